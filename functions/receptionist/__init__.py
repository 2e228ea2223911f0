"""The reference assistant: a telephone receptionist configured from one YAML file.

``receptionist.app`` holds the ``assistant`` (the one ``template.yaml`` deploys by default);
``receptionist.engine`` its logic.
"""
