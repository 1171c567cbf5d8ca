"""Every student's lab of a class in one pyinfra run:

    KUBELAB_CLASS=classes/example.yaml pyinfra inventories/class.py deploys/lab.py

Hosts are named <lab>.<node>; control_plane and workers hold every lab's, and
lab_<lab> (dashes as underscores) one lab's, e.g. `--limit lab_ckad_mon_alice`.
"""

from kubelab.classroom import class_groups

globals().update(class_groups())
