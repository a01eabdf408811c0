"""Part B of the report: diffusion models trained from scratch on MNIST (data, UNets, DDPM, training)."""

BASE_SEED = 1729
