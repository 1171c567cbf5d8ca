kubectl expose deployment web --port=80 -n ex-rollout
# the container is named after the image: nginx
kubectl set image deployment/web nginx=nginx:1.28 -n ex-rollout
kubectl rollout status deployment/web -n ex-rollout --timeout=90s
