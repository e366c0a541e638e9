variable "image" {
  description = "Dockwatch agent image, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/dockwatch:agent-0.1.0."
  type        = string
}

variable "server_addr" {
  description = "host:port of the Dockwatch server's gRPC endpoint (the ALB's :50051, or 127.0.0.1:50051 inside the server task)."
  type        = string
}

variable "server_tls" {
  description = "Connect with TLS (SERVER_TLS). True for the ALB's gRPC listener; false only for 127.0.0.1 inside the server task."
  type        = bool
  default     = true
}

variable "agent_token_secret_arn" {
  description = "Secrets Manager ARN of AGENT_TOKEN. The task's execution role needs secretsmanager:GetSecretValue on it."
  type        = string
}

variable "log_group_name" {
  description = "CloudWatch log group for the agent's logs."
  type        = string
}

variable "aws_region" {
  description = "Region of the log group."
  type        = string
}

variable "agent_id" {
  description = "AGENT_ID reported to the server; empty = the agent's default (its hostname)."
  type        = string
  default     = ""
}

variable "name" {
  description = "Container name inside the task definition."
  type        = string
  default     = "dockwatch-agent"
}

variable "collect_interval" {
  description = "COLLECT_INTERVAL, at least 1s."
  type        = string
  default     = "5s"
}

variable "cpu" {
  description = "CPU units reserved for the sidecar."
  type        = number
  default     = 32
}

variable "memory" {
  description = "Hard memory limit (MiB) of the sidecar."
  type        = number
  default     = 96
}
