kubectl create service nodeport web --tcp=80:80 --node-port=30080 -n ex-nodeport
