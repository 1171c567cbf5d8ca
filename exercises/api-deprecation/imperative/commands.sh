kubectl create deployment legacy --image=nginx:1.27 --replicas=3 --port=80 -n ex-api-deprecation
kubectl create poddisruptionbudget legacy --selector=app=legacy --min-available=2 -n ex-api-deprecation
