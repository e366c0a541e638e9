output "alb_dns_name" {
  description = "DNS name of the load balancer: point your domain (matching certificate_arn) at it."
  value       = aws_lb.main.dns_name
}

output "dashboard_url" {
  description = "Dashboard URL through the ALB."
  value       = "https://${aws_lb.main.dns_name}/"
}

output "grpc_endpoint" {
  description = "SERVER_ADDR for agents outside this VPC (TLS on the ALB)."
  value       = "${aws_lb.main.dns_name}:50051"
}

output "ecs_cluster_name" {
  description = "ECS cluster running the server."
  value       = aws_ecs_cluster.main.name
}

output "admin_password_secret_arn" {
  description = "Secrets Manager ARN of the first admin password (aws secretsmanager get-secret-value --secret-id <arn>)."
  value       = aws_secretsmanager_secret.admin_password.arn
}

output "agent_token_secret_arn" {
  description = "Secrets Manager ARN of the agent token, for modules/dockwatch-agent-sidecar in other task definitions."
  value       = aws_secretsmanager_secret.agent_token.arn
}

output "agent_log_group_name" {
  description = "Log group for agent sidecars."
  value       = aws_cloudwatch_log_group.agent.name
}
