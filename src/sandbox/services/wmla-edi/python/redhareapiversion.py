"""Sandbox stand-in for WMLA EDI's `redhareapiversion` module.

EDI kernels start with `import redhareapiversion` (on a real cluster it selects the kernel API
version). Here it only records which API the kernel runs against.
"""

__version__ = "sandbox-1"
