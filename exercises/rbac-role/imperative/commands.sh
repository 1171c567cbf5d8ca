kubectl create role pod-reader --verb=get,list --resource=pods -n ex-rbac
kubectl create rolebinding viewer-reads-pods --role=pod-reader --serviceaccount=ex-rbac:viewer -n ex-rbac
kubectl run client --image=busybox:1.37 -n ex-rbac --dry-run=client -o yaml --command -- sleep infinity | kubectl set serviceaccount -f - viewer --local -o yaml | kubectl apply -f -
