"""The local runtime: the whole system on an embedded AWS emulation (moto on loopback), same handler code."""
