"""Codegen: lower a scheduled Relax module to machine code and a shared library."""
