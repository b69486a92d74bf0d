"""{{ cookiecutter.project_name }}: controllers, routers and middleware."""
