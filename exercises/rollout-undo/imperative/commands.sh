kubectl set image deployment/web nginx=nginx:1.28 -n ex-undo
kubectl rollout status deployment/web -n ex-undo --timeout=120s
kubectl rollout undo deployment/web -n ex-undo
kubectl rollout status deployment/web -n ex-undo --timeout=120s
