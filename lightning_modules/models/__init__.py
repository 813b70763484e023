"""The potentials: SchNet (with IIA and SMU), ænet networks, their building blocks and registry."""
