"""kubelab: declarative kubeadm labs for CKAD practice."""

__version__ = "0.1.0"
