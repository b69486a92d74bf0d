"""The ``routemq`` command. Command modules keep heavy imports inside their functions."""
