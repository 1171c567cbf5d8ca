kubectl run whoami --image=busybox:1.37 -n ex-identity --dry-run=client -o yaml --command -- sleep 3600 | kubectl set serviceaccount -f - builder --local -o yaml | kubectl apply -f -
