"""Joins the torch process group of a distributed (distPyTorch) WMLA exec.

A1_Submit_WMLA_Training prepares the submission folder with processGroupScript = this file, so the
runbook's distPyTorch snippet (init_process_group with MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE)
is added at the top of this module. train.py imports it only when torch is installed: the demo
trains with plain Python, and the local sandbox has no torch.
"""
