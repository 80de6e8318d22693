"""promqltest conformance: the upstream PromQL test corpus run against promlake (see README.md)."""
