"""Statistics (8.3.1, Appendix G), reports (Appendix H) and exports."""
