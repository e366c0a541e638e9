resource "aws_cloudwatch_log_group" "server" {
  name              = "/ecs/${local.name}/server"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "agent" {
  name              = "/ecs/${local.name}/agent"
  retention_in_days = var.log_retention_days
}
