locals {
  name = "dockwatch-${var.environment}"
  tags = {
    Project     = "dockwatch"
    Environment = var.environment
    ManagedBy   = "terraform"
  }
  server_image = "${var.ecr_repository_url}:server-${var.image_tag}"
  agent_image  = "${var.ecr_repository_url}:agent-${var.image_tag}"
  azs          = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  # "<registry>/<repository path>" -> "<repository path>"
  ecr_repository_name = join("/", slice(split("/", var.ecr_repository_url), 1, length(split("/", var.ecr_repository_url))))
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_caller_identity" "current" {}
