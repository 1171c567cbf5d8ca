kubectl delete service shop -n ex-debug-service
kubectl create service clusterip shop --tcp=80:80 -n ex-debug-service
kubectl set selector service shop app=shop,track=stable -n ex-debug-service
