kubectl create deployment green --image=nginx:1.28 --replicas=2 -n ex-bluegreen
kubectl rollout status deployment/green -n ex-bluegreen --timeout=90s
kubectl set selector service web app=green -n ex-bluegreen
