"""Train and measure one GAN. Knows torch; never imports Ray, MLflow or `orchestrator`."""
