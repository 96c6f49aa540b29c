"""Reporting on leads: the daily rollup behind the dashboard, and the dashboard's reads."""
