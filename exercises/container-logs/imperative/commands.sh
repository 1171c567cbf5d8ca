kubectl logs logger -c audit -n ex-container-logs | kubectl create configmap answer -n ex-container-logs --from-file=word=/dev/stdin
