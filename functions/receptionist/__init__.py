"""The reference assistant: a telephone receptionist configured from one YAML file.

``receptionist.app`` holds the deployed ``assistant``; ``receptionist.engine`` its logic.
"""
