kubectl -n ex-debug-broken-app set image deployment/shop shop=nginx:1.27
kubectl -n ex-debug-broken-app delete service shop
kubectl -n ex-debug-broken-app expose deployment shop --port=80 --target-port=80
