"""The code of every pesweep MLflow Model (MLflow's "models from code").

MLflow copies this file into each logged model and runs it when the model is
loaded (``mlflow.pyfunc.load_model``, ``mlflow models serve``); it names the
model class, which needs pesweep installed. Nothing else imports it.
"""

from mlflow.models import set_model

from hpo.tracking.model_flavour import PotentialModel

set_model(PotentialModel())
