-- Version 2: the purpose and legal basis a consumer states when it negotiates;
-- policies judge the purpose, and the space rules need the legal basis of a
-- cross-border flow.
ALTER TABLE negotiations ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE negotiations ADD COLUMN legal_basis TEXT NOT NULL DEFAULT '';
ALTER TABLE agreements ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE agreements ADD COLUMN legal_basis TEXT NOT NULL DEFAULT '';
