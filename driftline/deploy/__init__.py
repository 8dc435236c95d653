"""What one installation deploys, as data shared by the CDK stack (``infra/``) and the local runtime
(``driftline/local/``): the functions, their handler strings and packaging, and every principal's statements."""
