"""Delivery of invitations: signed links now; channels (SMS, email, app, letter) later."""
