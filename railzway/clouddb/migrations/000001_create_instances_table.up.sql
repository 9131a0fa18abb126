CREATE TABLE IF NOT EXISTS instances (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    nomad_job_id VARCHAR(255),
    desired_version VARCHAR(50),
    current_version VARCHAR(50),
    status VARCHAR(50),
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    CONSTRAINT uniq_org_instance UNIQUE (org_id)
);
