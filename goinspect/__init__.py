"""goinspect: is the Go heap really leaking, and which map or slice is it?"""

__version__ = "0.1.0"
