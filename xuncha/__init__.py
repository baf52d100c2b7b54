"""xuncha (巡查): turns city surveillance cameras into reviewed city-management cases."""

__version__ = "0.1.0"
