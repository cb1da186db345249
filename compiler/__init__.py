"""Ember's compiler: ONNX front end, pass pipelines, codegen and the artifact writer.

Importing this package imports TVM; the deploy path (`import ember`, `ember.load`) never does.
"""
