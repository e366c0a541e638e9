output "container_definition" {
  description = "The sidecar's container definition (an object): concat it into the task's container list before jsonencode."
  value       = local.container_definition
}

output "container_definition_json" {
  description = "The same, JSON-encoded, for task definitions assembled as JSON text."
  value       = jsonencode(local.container_definition)
}

output "required_secret_arns" {
  description = "Secrets the task's execution role must be allowed to read (secretsmanager:GetSecretValue)."
  value       = [var.agent_token_secret_arn]
}
