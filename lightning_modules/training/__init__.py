"""Running a training: the LightningModule, the data module, the run itself, evaluation, ASE."""
