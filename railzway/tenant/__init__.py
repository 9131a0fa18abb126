"""What a tenant is: the specification the component declares from, and the policy pack, the audit and the
Cloud DB sync compare against. Pure: no Pulumi, no network, no files."""
