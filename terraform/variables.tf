variable "aws_region" {
  description = "AWS region to deploy into, e.g. eu-west-1."
  type        = string
}

variable "environment" {
  description = "Environment name (dev, staging, prod); part of every resource name, so short: ALB and target group names allow 32 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,12}$", var.environment))
    error_message = "environment must be 2-13 lowercase letters, digits or dashes, starting with a letter (\"dockwatch-<env>-grpc\" must fit the 32-character target group name limit)."
  }
}

variable "ecr_repository_url" {
  description = "ECR repository holding the images, tagged server-<image_tag> and agent-<image_tag> (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/dockwatch)."
  type        = string
}

variable "image_tag" {
  description = "Dockwatch version to run (the images are <ecr_repository_url>:server-<tag> and :agent-<tag>)."
  type        = string
  default     = "0.1.0"
}

variable "influxdb_url" {
  description = "URL of the InfluxDB 2 that stores history (InfluxDB Cloud or self-hosted), e.g. https://eu-central-1-1.aws.cloud2.influxdata.com."
  type        = string
}

variable "influxdb_token" {
  description = "InfluxDB API token with write/read access to the bucket. Stored in Secrets Manager, never in the task definition."
  type        = string
  sensitive   = true
}

variable "influxdb_org" {
  description = "InfluxDB organisation."
  type        = string
  default     = "dockwatch"
}

variable "influxdb_bucket" {
  description = "InfluxDB bucket."
  type        = string
  default     = "dockwatch"
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the ALB's HTTPS (dashboard) and gRPC (agents) listeners."
  type        = string
}

variable "allowed_cidrs" {
  description = "CIDR blocks allowed to reach the dashboard on 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "agent_cidrs" {
  description = "CIDR blocks of the agents allowed to reach the gRPC listener (50051). Never the whole internet."
  type        = list(string)

  validation {
    condition     = length(var.agent_cidrs) > 0 && alltrue([for c in var.agent_cidrs : !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "agent_cidrs must list specific networks; 0.0.0.0/0 and ::/0 are refused."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the new VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones to spread subnets over (the ALB needs at least 2)."
  type        = number
  default     = 2
}

variable "server_desired_count" {
  description = "Server tasks to run."
  type        = number
  default     = 2
}

variable "server_cpu" {
  description = "Fargate CPU units of a server task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "server_memory" {
  description = "Fargate memory (MiB) of a server task."
  type        = number
  default     = 1024
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention."
  type        = number
  default     = 30
}

variable "admin_user" {
  description = "Login of the first admin user; the password is generated into Secrets Manager."
  type        = string
  default     = "admin"
}

variable "monitor_server_task" {
  description = "Add the Dockwatch agent as a sidecar to the server task itself (shows how to use modules/dockwatch-agent-sidecar)."
  type        = bool
  default     = true
}
