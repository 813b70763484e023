# #36: the promoted model fails the spot check; label its gate trajectory; a fine-tuning sweep from it with the labels; the 250 ps gate with the spot check
set -e
cd /work/exp/recipe
export PYTHONPATH=/work/wt-recipe2 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/pesweep
GATE=mlruns/cuau-aenet-md-checks/cdd65832251a4ea8939f2bdd76935162/artifacts/md_check/trajectory.extxyz
printf 'structure: /work/cuau_water/cu7au6_6h2o.xyz\ntemperature: 300\ntimestep: 0.5\ntime_ps: 50\nspot_check: gfn1-xtb\n' > md50s.yaml
sed 's/time_ps: 50/time_ps: 250/' md50s.yaml > md250s.yaml
date
$P md-check --model models:/cuau-aenet@stable --tracking-uri sqlite:///mlflow.db --spec md50s.yaml --output-dir spot-v1 --no-mlflow || true
date
[ -f labels-v1.extxyz ] || $P label --trajectory $GATE --calculator gfn1-xtb --frames 60 --out labels-v1.extxyz
date
$P sweep --study cuau-finetune-labelled --space aenet_finetune --data /work/cuau_water/target.extxyz labels-v1.extxyz \
  --init-from models:/cuau-aenet@stable --md-constraint md50s.yaml --n-trials ${TRIALS:-8} --workers 2 --max-epochs 100 \
  --storage sqlite:///studies.db --tracking-uri sqlite:///mlflow.db --runs-dir runs
date
$P promote --study cuau-finetune-labelled --storage sqlite:///studies.db --tracking-uri sqlite:///mlflow.db \
  --model-name cuau-aenet --alias stable --require-md md250s.yaml
date
