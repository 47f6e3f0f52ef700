"""What intake's routes answer, for the OpenAPI document only.

The routes build their bodies themselves (records as stored, ``as_json`` methods, rows of the
SQL views) and answer them as they are: these models never filter or validate an answer. They
describe each body exactly, field by field with its optionality, and carry an example, so a
client reads what it will get; tests/test_api_fuzz.py checks real answers against them.
Declared with ``responses={status: {"model": ...}}`` (and ``response_model=None`` where the
route's ``dict[str, Any]`` annotation would otherwise document "any object").
"""
