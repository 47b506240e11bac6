-- Admin top-ups that carry a `reference` (docs/decisions.md, AD3): the first top-up with a
-- given reference for an account credits it; a repeat finds this row and credits nothing.
-- Inserted in the same statement as the balance change and its ledger entry.
CREATE TABLE top_up_references (
    account_id uuid NOT NULL REFERENCES accounts (id),
    reference  text NOT NULL CHECK (length(reference) BETWEEN 1 AND 255),
    amount     numeric(20, 8) NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, reference)
);
