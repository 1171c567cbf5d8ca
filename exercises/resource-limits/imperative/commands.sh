kubectl create deployment web --image=nginx:1.27 --replicas=2 -n ex-resources
kubectl set resources deployment web -c nginx --requests=cpu=100m --limits=cpu=250m,memory=128Mi -n ex-resources
