"""The staff console: questionnaires, invitations, responses, exceptions."""
