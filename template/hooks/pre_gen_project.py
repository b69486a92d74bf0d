"""Refuse answers that copier's validators refuse (cookiecutter has no validators of its own)."""

import keyword
import sys

RESERVED = {"app", "bootstrap", "tests", "routemq", "routemq_runtime", "routemq_cli"}

slug = {{ cookiecutter.project_slug|tojson }}
port = {{ cookiecutter.mqtt_port|string|tojson }}
group = {{ cookiecutter.group_name|tojson }}
workers = {{ cookiecutter.worker_count|string|tojson }}

# A dash counts as an underscore: my-app is checked as the identifier my_app.
module = slug.replace("-", "_")
errors = []
if not (
    module.isidentifier()
    and module.isascii()
    and slug == slug.lower()
    and slug[:1].isalpha()
    and not keyword.iskeyword(module)
    and module not in RESERVED
):
    errors.append(
        f"{slug!r} is not a valid slug: use lowercase letters, digits, dashes and underscores,"
        " start with a letter, and avoid Python keywords and the names "
        + ", ".join(sorted(RESERVED))
        + "."
    )
if not port.isdigit() or not 1 <= int(port) <= 65535:
    errors.append(f"mqtt_port {port!r} must be a number between 1 and 65535.")
if not group or any(char in group for char in "/+#"):
    errors.append(f"group_name {group!r} must be non-empty and contain no '/', '+' or '#'.")
if not workers.isdigit() or int(workers) < 1:
    errors.append(f"worker_count {workers!r} must be a whole number of at least 1.")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
