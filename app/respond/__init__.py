"""The client's side: signed links, identity check, the mobile form and the receipt."""
