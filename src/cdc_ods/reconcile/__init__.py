"""Proof that nothing was lost: compare every source table with its ODS table."""
