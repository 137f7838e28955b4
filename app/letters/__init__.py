"""Paper letters: batches, keying returned questionnaires, the archive register."""
