"""The test suite (a regular package, so a site-packages ``tests`` package such as
torch-fidelity's cannot shadow ``tests.conftest``)."""
