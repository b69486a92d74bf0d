"""Run {{ cookiecutter.project_name }}.

``python main.py`` handles every route in one process; ``python main.py --workers`` starts a
supervisor and worker processes for the shared routes.
"""

from pathlib import Path

from routemq_runtime.app import main

if __name__ == "__main__":
    raise SystemExit(main(app_dir=Path(__file__).resolve().parent))
