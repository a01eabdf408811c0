"""Running: work units, the scheduler, warm workers, the ctx a section computes with, executors."""
